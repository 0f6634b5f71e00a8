variable "ports" {
  type = map(number)
  default = {
    http  = 8080
    admin = 8081
  }
}

job "edge" {
  type     = "system"
  priority = 80

  group "proxy" {
    network {
      dynamic "port" {
        for_each = var.ports
        labels   = [port.key]
        content {
          static = port.value
        }
      }
    }

    task "envoy" {
      driver = "raw_exec"
      user   = "nobody"

      config {
        command = "envoy"
        args    = ["-c", "${NOMAD_TASK_DIR}/envoy.yaml", "--service-node", "${node.unique.name}"]
      }

      kill_timeout = "45s"
      kill_signal  = "SIGTERM"

      lifecycle {
        hook    = "prestart"
        sidecar = true
      }

      identity {
        env  = true
        file = true
      }
    }
  }
}

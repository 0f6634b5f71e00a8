# Multi-group service: templates (heredoc, <<- and an inlined file), runtime interpolations,
# variables and locals, and dynamic blocks.
variable "image_tag" {
  type    = string
  default = "1.27"
}

variable "replicas" {
  type    = number
  default = 2
}

variable "upstreams" {
  type    = list(string)
  default = ["api", "auth"]
}

locals {
  image = "nginx:${var.image_tag}"
  ports = { http = 8080, metrics = 9102 }
}

job "web" {
  datacenters = ["dc1"]
  type        = "service"

  meta {
    owner = "platform"
  }

  group "proxy" {
    count = var.replicas

    network {
      dynamic "port" {
        for_each = local.ports
        labels   = [port.key]
        content {
          to = port.value
        }
      }
    }

    task "nginx" {
      driver = "docker"

      config {
        image = local.image
        ports = ["http", "metrics"]
      }

      env {
        LISTEN  = "0.0.0.0:${NOMAD_PORT_http}"
        ALLOC   = "${NOMAD_ALLOC_DIR}/data"
        HOST    = "${attr.unique.hostname}"
        QUOTED  = "say \"${NOMAD_TASK_NAME}\""
      }

      template {
        destination = "local/nginx.conf"
        data        = file("files/nginx.conf")
      }

      template {
        destination = "local/upstreams.conf"
        data        = <<-EOT
          {{- range service "api" }}
          server {{ .Address }}:{{ .Port }};
          {{- end }}
          # alloc ${NOMAD_ALLOC_ID}
        EOT
      }

      template {
        destination = "secrets/env"
        env         = true
        data        = <<EOH
REGION=${node.region}
DC=${node.datacenter}
EOH
      }

      resources {
        cpu    = 100
        memory = 128
      }
    }
  }

  group "sidecars" {
    dynamic "task" {
      for_each = var.upstreams
      labels   = ["probe-${task.value}"]
      content {
        driver = "docker"
        config {
          image = "busybox:1.36"
          args  = ["sh", "-c", "while true; do wget -q -O- http://${task.value}; sleep 30; done"]
        }
        resources {
          cpu    = 20
          memory = 32
        }
      }
    }
  }
}

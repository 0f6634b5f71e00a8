# An API service whose configuration comes from a template and whose version is a variable.
variable "image_tag" {
  type    = string
  default = "1.4.2"
}

locals {
  image = "ghcr.io/example/api:${var.image_tag}"
}

job "api" {
  datacenters = ["dc1"]

  group "api" {
    count = 3

    network {
      port "http" {}
    }

    update {
      max_parallel     = 1
      canary           = 1
      auto_promote     = true
      min_healthy_time = "5s"
    }

    task "api" {
      driver = "docker"

      config {
        image = local.image
        ports = ["http"]
      }

      env {
        LISTEN_ADDR = "0.0.0.0:${NOMAD_PORT_http}"
      }

      template {
        destination = "local/api.env"
        env         = true
        data        = <<-EOT
          DATACENTER={{ env "node.datacenter" }}
          LOG_LEVEL=info
        EOT
      }

      resources {
        cpu    = 200
        memory = 256
      }
    }
  }
}

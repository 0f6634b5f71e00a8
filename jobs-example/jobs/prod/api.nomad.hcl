# The API behind the web front end. Its version comes from the environment's var file; its
# settings from a template that Nomad renders on the client at run time (the `{{ }}` and
# `${NOMAD_*}` below reach Nomad untouched).
variable "datacenters" {
  type    = list(string)
  default = ["dc1"]
}

variable "api_version" {
  type    = string
  default = "1.4.2"
}

variable "api_count" {
  type    = number
  default = 2
}

variable "log_level" {
  type    = string
  default = "info"
}

locals {
  image = "ghcr.io/example/api:${var.api_version}"
}

job "api" {
  namespace   = "prod"
  datacenters = var.datacenters

  # Registered only once every job of a lower wave that the same commit changed has ended:
  # here after the migrate job (wave 0) ran, so that a release migrates before it deploys.
  meta = {
    "drover.wave" = "1"
  }

  group "api" {
    count = var.api_count

    network {
      port "http" {}
    }

    update {
      max_parallel     = 1
      canary           = 1
      auto_promote     = true
      min_healthy_time = "5s"
    }

    service {
      name     = "api"
      port     = "http"
      provider = "nomad"

      check {
        type     = "http"
        path     = "/health"
        interval = "10s"
        timeout  = "2s"
      }
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

      # The database credentials come from the Nomad variable nomad/jobs/api, which drover
      # decrypts from cluster/secrets/prod/api.sops.yaml and writes before this job.
      template {
        destination = "secrets/db.env"
        env         = true
        data        = "{{ with nomadVar \"nomad/jobs/api\" }}DB_USER={{ .db_user }}\nDB_PASSWORD={{ .db_password }}{{ end }}"
      }

      template {
        destination = "local/api.env"
        env         = true
        data        = <<-EOT
          DATACENTER={{ env "node.datacenter" }}
          LOG_LEVEL=${var.log_level}
        EOT
      }

      resources {
        cpu    = 200
        memory = 256
      }
    }
  }
}

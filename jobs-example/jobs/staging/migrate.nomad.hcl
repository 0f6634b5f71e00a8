# Staging's database migrations: the same batch job as jobs/prod/migrate.nomad.hcl in the
# staging namespace, run once per API release candidate.
variable "datacenters" {
  type    = list(string)
  default = ["dc1"]
}

variable "api_version" {
  type    = string
  default = "1.4.2"
}

job "migrate" {
  namespace   = "staging"
  datacenters = var.datacenters
  type        = "batch"

  meta {
    api_version = var.api_version
  }

  group "migrate" {
    # A failed migration is looked at by a person, not retried into a half-migrated schema.
    restart {
      attempts = 0
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "migrate" {
      driver = "docker"

      config {
        image   = "ghcr.io/example/api:${var.api_version}"
        command = "/app/api"
        args    = ["migrate", "--to", "latest"]
      }

      resources {
        cpu    = 100
        memory = 128
      }
    }
  }
}

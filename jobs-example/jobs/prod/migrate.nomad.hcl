# The API's database migrations, a batch job run once per API release: it shares api_version
# with jobs/prod/api.nomad.hcl, so a release commit changes both, and Nomad runs it to
# completion (a batch job has no deployment to follow).
variable "datacenters" {
  type    = list(string)
  default = ["dc1"]
}

variable "api_version" {
  type    = string
  default = "1.4.2"
}

job "migrate" {
  namespace   = "prod"
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

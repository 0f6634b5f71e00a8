# A nightly periodic batch job: registering it starts nothing (Nomad launches a child job at
# each cron time), so drover sees no evaluation and no deployment.
variable "datacenters" {
  type    = list(string)
  default = ["dc1"]
}

job "cleanup" {
  namespace   = "prod"
  datacenters = var.datacenters
  type        = "batch"

  periodic {
    crons            = ["0 3 * * *"]
    time_zone        = "UTC"
    prohibit_overlap = true
  }

  group "cleanup" {
    task "prune" {
      driver = "docker"

      config {
        image = "ghcr.io/example/tools:2.1.0"
        args  = ["prune", "--older-than", "7d"]
      }

      resources {
        cpu    = 50
        memory = 64
      }
    }
  }
}

# A nightly batch job: periodic jobs create no deployment.
job "cleanup" {
  datacenters = ["dc1"]
  type        = "batch"

  periodic {
    crons            = ["0 3 * * *"]
    prohibit_overlap = true
  }

  group "cleanup" {
    task "prune" {
      driver = "exec"

      config {
        command = "/usr/local/bin/prune"
        args    = ["--older-than", "7d"]
      }

      resources {
        cpu    = 50
        memory = 64
      }
    }
  }
}

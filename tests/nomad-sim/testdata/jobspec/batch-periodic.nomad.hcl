job "nightly-report" {
  type        = "batch"
  datacenters = ["dc1"]

  periodic {
    crons            = ["0 2 * * *"]
    prohibit_overlap = true
    time_zone        = "Europe/Berlin"
  }

  group "report" {
    restart {
      attempts = 1
      delay    = "15s"
      mode     = "fail"
    }

    task "run" {
      driver = "exec"

      config {
        command = "/usr/local/bin/report"
        args    = ["--date", "${NOMAD_META_run_date}"]
      }

      artifact {
        source      = "https://example.com/report.tar.gz"
        destination = "local/"
        options {
          checksum = "sha256:0123456789abcdef"
        }
      }

      resources {
        cpu    = 200
        memory = 256
      }

      logs {
        max_files     = 3
        max_file_size = 10
      }
    }
  }
}

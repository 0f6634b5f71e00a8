locals {
  image = "redis:${var.redis_version}"
}

variable "redis_version" {
  type    = string
  default = "7.2"
}

job "cache" {
  datacenters = ["dc1", "dc2"]
  node_pool   = "default"

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  update {
    max_parallel     = 1
    min_healthy_time = "10s"
    healthy_deadline = "3m"
    auto_revert      = true
    canary           = 1
  }

  group "cache" {
    count = 2

    network {
      port "db" {
        to = 6379
      }
    }

    ephemeral_disk {
      size   = 300
      sticky = true
    }

    task "redis" {
      driver = "docker"

      config {
        image = local.image
        ports = ["db"]
        logging {
          type = "journald"
          config {
            tag = "redis"
          }
        }
      }

      template {
        destination = "local/redis.conf"
        change_mode = "signal"
        change_signal = "SIGHUP"
        data        = <<-EOT
          maxmemory {{ key "redis/maxmemory" }}
          bind $${NOMAD_IP_db}
        EOT
      }

      resources {
        cpu    = 500
        memory = 256
      }

      service {
        name     = "redis-cache"
        tags     = ["global", "cache"]
        port     = "db"
        provider = "nomad"

        check {
          name     = "alive"
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
        }
      }
    }
  }
}

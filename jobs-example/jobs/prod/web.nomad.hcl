# The public front end: nginx, configured from files/web/nginx.conf (inlined with file() from
# the same commit), rolled out through one canary that Nomad promotes once it is healthy; a
# deployment that fails reverts to the last stable version.
variable "datacenters" {
  type    = list(string)
  default = ["dc1"]
}

variable "web_image" {
  type    = string
  default = "nginx:1.27.3"
}

variable "web_count" {
  type    = number
  default = 2
}

job "web" {
  namespace   = "prod"
  datacenters = var.datacenters
  type        = "service"

  meta {
    owner = "platform"
  }

  update {
    max_parallel      = 1
    canary            = 1
    auto_promote      = true
    auto_revert       = true
    min_healthy_time  = "10s"
    healthy_deadline  = "3m"
    progress_deadline = "10m"
  }

  group "web" {
    count = var.web_count

    network {
      port "http" {
        to = 8080
      }
    }

    service {
      name     = "web"
      port     = "http"
      provider = "nomad"
      tags     = ["public"]

      # Canaries register with these tags, so that a load balancer can keep them apart.
      canary_tags = ["canary"]

      check {
        type     = "http"
        path     = "/healthz"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "nginx" {
      driver = "docker"

      config {
        image   = var.web_image
        ports   = ["http"]
        volumes = ["local/default.conf:/etc/nginx/conf.d/default.conf"]
      }

      # The greeting comes from the Nomad variable nomad/jobs/web (cluster/variables/), which
      # drover writes before it registers this job; the job's identity may read it.
      template {
        destination = "local/greeting.txt"
        data        = "{{ with nomadVar \"nomad/jobs/web\" }}{{ .greeting }}{{ end }}"
      }

      template {
        destination   = "local/default.conf"
        data          = file("../../files/web/nginx.conf")
        change_mode   = "signal"
        change_signal = "SIGHUP"
      }

      resources {
        cpu    = 100
        memory = 128
      }
    }
  }
}

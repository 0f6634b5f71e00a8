# drover as a Nomad job: two instances with [ha] on (one leads, the other takes over when its
# lock lapses), talking to Nomad through the Task API socket with the task's workload identity,
# so that no static token exists anywhere. See README.md, "Running drover in Nomad".
#
# Driver: `exec`, with the release binary as an artifact. drover is one self-contained binary
# (Git, SOPS and OpenPGP are in-process; no `git` program needed), so a container image would
# only add a registry to trust; `exec` still isolates it (chroot, its own user and cgroups) where
# `raw_exec` would not, and its chroot carries the system CA roots drover reads for HTTPS remotes.
#
# Configuration: the Nomad variable nomad/jobs/drover holds drover.toml's sources and settings
# under the item `config` (a job's tasks may always read their own job's variables). The
# template adds the [nomad], [state], [server] and [ha] tables, which belong to how this job
# runs. Writing the variable again re-renders the file, and drover reloads it on its own.
variable "drover_url" {
  description = "Where the drover release archive (the binary at its root) is downloaded from"
  type        = string
}

variable "drover_checksum" {
  description = "The archive's checksum, e.g. sha256:abcd..."
  type        = string
}

job "drover" {
  namespace = "default"
  type      = "service"

  group "drover" {
    count = 2

    # One instance per node: the HA pair must not share a machine's fate.
    constraint {
      operator = "distinct_hosts"
      value    = "true"
    }

    # The Git mirrors and the record of what was applied live in the allocation's data
    # directory; sticky and migrated so that an update or a move does not clone from scratch.
    ephemeral_disk {
      size    = 1024
      sticky  = true
      migrate = true
    }

    network {
      port "http" {}
    }

    service {
      name     = "drover"
      port     = "http"
      provider = "nomad"

      check {
        type     = "http"
        path     = "/healthz"
        interval = "10s"
        timeout  = "2s"
      }
    }

    update {
      max_parallel     = 1
      min_healthy_time = "10s"
      healthy_deadline = "3m"
    }

    task "drover" {
      driver = "exec"

      artifact {
        source = var.drover_url
        options {
          checksum = var.drover_checksum
        }
      }

      config {
        command = "local/drover"
        args    = ["run", "--config", "local/drover.toml"]
      }

      # The default identity, written to secrets/nomad_token and never put in the environment
      # (an environment is easier to leak: a crash report, /proc/<pid>/environ). drover re-reads
      # the file whenever it changes.
      identity {
        file = true
        env  = false
      }

      template {
        destination = "local/drover.toml"
        change_mode = "noop"
        data        = <<-EOT
          [nomad]
          address    = "unix://{{ env "NOMAD_SECRETS_DIR" }}/api.sock"
          token_file = "{{ env "NOMAD_SECRETS_DIR" }}/nomad_token"

          [state]
          dir = "{{ env "NOMAD_ALLOC_DIR" }}/data/drover"

          [server]
          listen = "0.0.0.0:{{ env "NOMAD_PORT_http" }}"

          [ha]
          enabled   = true
          namespace = "default"

          {{ with nomadVar "nomad/jobs/drover" }}{{ .config }}{{ end }}
        EOT
      }

      # BENCHMARKS.md: about 40 MiB resident at 5,000 jobs, steady. 128 MiB reserved covers a
      # cold start's clones and a full pass; memory_max lets a burst (many files changing at
      # once) use more without an OOM kill where the cluster enables oversubscription.
      resources {
        cpu        = 200
        memory     = 128
        memory_max = 256
      }

      kill_timeout = "25s"
    }
  }
}

# Values for every job under jobs/prod/, as `nomad job run -var-file=vars/prod.hcl`.
datacenters = ["dc1", "dc2"]
log_level   = "info"

web_image = "nginx:1.27.3"
web_count = 3

api_version = "1.4.2"
api_count   = 3

# Values for every job under jobs/staging/, as `nomad job run -var-file=vars/staging.hcl`.
# A job ignores the values of variables it does not declare. A release reaches staging by a
# change here, and production by the same change in prod.hcl.
datacenters = ["dc1"]
log_level   = "debug"

web_image = "nginx:1.27.4"
web_count = 1

api_version = "1.5.0-rc.2"
api_count   = 1

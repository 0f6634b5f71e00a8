# The web job's variable in staging (see cluster/variables/prod/web.hcl).
path      = "nomad/jobs/web"
namespace = "staging"

items {
  greeting = "Hello from Git, in staging"
}

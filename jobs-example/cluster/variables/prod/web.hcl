# A Nomad variable, in the format of `nomad var put` spec files. The path nomad/jobs/web is
# readable by the web job's own workload identity, without any policy: see its template.
path      = "nomad/jobs/web"
namespace = "prod"

items {
  greeting = "Hello from Git, in prod"
}

# The prod namespace, in the format `nomad namespace apply` reads. drover applies it before
# the jobs of the prod source, which all run in it, and stamps it with drover.* meta.
name        = "prod"
description = "Production services of the example"

meta {
  owner = "platform"
}

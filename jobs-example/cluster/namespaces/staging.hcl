# The staging namespace, in the format `nomad namespace apply` reads.
name        = "staging"
description = "Staging services of the example"

meta {
  owner = "platform"
}

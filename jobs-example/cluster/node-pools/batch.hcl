# A node pool for batch work, in the format `nomad node pool apply` reads.
node_pool "batch" {
  description = "Nodes that run the example's batch jobs"

  meta {
    owner = "platform"
  }
}

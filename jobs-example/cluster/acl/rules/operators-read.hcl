# Read jobs, allocations, logs and variables in every namespace; read the nodes.
namespace "*" {
  policy = "read"

  variables {
    path "*" {
      capabilities = ["read", "list"]
    }
  }
}

node {
  policy = "read"
}

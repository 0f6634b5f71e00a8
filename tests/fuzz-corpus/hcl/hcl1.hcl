job "a" {
  env {
    "A" = 1
  }
}

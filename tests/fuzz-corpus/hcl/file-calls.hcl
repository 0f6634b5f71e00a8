job "a" {
  a = file("../../etc/passwd")
  b = filebase64("bin.dat")
  c = fileexists(var.p)
  d = file(
"files//./a.conf"
)
  e = <<-EOT
    ${file("x")} %{ if } $${
  EOT
}

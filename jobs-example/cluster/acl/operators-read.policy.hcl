# An ACL policy in drover's format: name, description, and the rules (inline with
# `rules = <<EOT ... EOT`, or from a file of the same repository). Needs a management token.
name        = "operators-read"
description = "Read-only access for the example's operators"
rules_file  = "cluster/acl/rules/operators-read.hcl"

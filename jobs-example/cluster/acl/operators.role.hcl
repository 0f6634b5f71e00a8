# An ACL role in drover's format: tokens of the role get every policy it lists.
name        = "operators"
description = "The example's operators"
policies    = ["operators-read"]

# The ACL policy drover's own tasks get through their workload identity, in drover's ACL policy
# file format (apply it with drover itself from a management-token instance, or with
# `nomad acl policy apply -namespace default -job drover drover-self drover.rules.hcl` after
# copying the rules out).
#
# It grants exactly what drover calls, and nothing more:
# - jobs, in every namespace drover syncs into: list-jobs (the jobs it owns), read-job (a job,
#   its versions, deployments and evaluations), parse-job (`/v1/jobs/parse`), submit-job
#   (plan, register, deregister, revert, promote or fail a deployment).
# - variables under drover/* in the namespace of the [ha] lock: the leader lock
#   (drover/leader: read and write, lock operations are writes), and the registries drover keeps
#   there (drover/known-bad/<source>, drover/notified/<name>, drover/owned/...): read, write,
#   destroy (a registry emptied is deleted) and list.
# - agent read: the Nomad version in /status and the job-file checks that depend on it.
#
# What a workload identity cannot do: namespace writes and every ACL policy or role call need a
# management token in Nomad, whatever the policy says, and node pool writes need a `node_pool`
# rule this policy does not give. A source with `namespaces`, `acl_policies`, `acl_roles` or
# `node_pools` must run from a drover with a management token (a second instance outside Nomad,
# or this job with `token_file` pointing at a token from Vault or a Nomad variable instead of
# the identity). Variables a source manages (`nomad_variables`, `encrypted_variables`) need a
# `path` block of their own below, with read, write, destroy and list.
name        = "drover-self"
description = "What drover's workload identity may do: sync jobs, hold the HA lock, read the version"

rules = <<-EOT
  namespace "default" {
    capabilities = ["list-jobs", "read-job", "parse-job", "submit-job"]
    variables {
      path "drover/*" {
        capabilities = ["read", "write", "destroy", "list"]
      }
    }
  }

  # Every other namespace the sources sync into. Nomad takes the most specific namespace rule,
  # so the default namespace needs its own block above, with the same capabilities.
  namespace "*" {
    capabilities = ["list-jobs", "read-job", "parse-job", "submit-job"]
  }

  agent {
    policy = "read"
  }
EOT

# Attached to the drover job: every task of it gets these capabilities through its identity.
job_acl {
  namespace = "default"
  job       = "drover"
}

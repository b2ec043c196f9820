"""The AWS CDK app that deploys the Investment AI Agent's AWS shape: six stacks per stage (networking, security,
storage, compute, api, monitoring) for dev, staging and prod, and for prod a stack in the secondary region."""

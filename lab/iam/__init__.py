"""IAM in the lab: a small evaluator of identity policies for the actions hanat calls (see ``evaluate``)."""

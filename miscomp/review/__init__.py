"""Human review of findings in Label Studio: labeling config, push, pull, agreement, local server."""

"""Read views of the onboarding service: the org chart (``trellis.orgchart`` on its own
stream), onboarding plans and milestones, templates; and the plain queries over them."""

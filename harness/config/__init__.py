"""What a run is told: the profile, crypto policies, the check catalogue, the threat model."""

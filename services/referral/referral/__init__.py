"""The referral service: HR referrals, the employee's referral link and consent,
provider enrollment updates."""

"""The product's checks: one pytest module per control family, one catalogue id per test."""

"""People signing in: the sign-in page and the throttle that counts its attempts."""

"""Firmware image formats, signing, and the deliberately broken images the UPDATE checks send."""

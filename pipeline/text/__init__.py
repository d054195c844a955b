"""Text in images: OCR glyph checks, line matching and scoring, fonts and typesetting, poster prompts."""

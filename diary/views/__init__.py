"""The site's pages, function views, thin: access -> form or summary -> template. By
who uses them: `patient` (her diary), `clinic` (physicians and coordinators),
`exports` (the coordinators' files) and `site` (everyone: health probe, home, manifest,
language, invitation)."""

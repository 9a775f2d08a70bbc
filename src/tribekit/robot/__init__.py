"""The social robot: channels, the inbound pipeline, moderation, commands and outbound actions."""

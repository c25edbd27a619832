"""Moved: the Twilio serializer lives in :mod:`beluga_voice.transports.telephony.twilio`."""

from ..._moved import moved_names

__getattr__ = moved_names(
    __name__, "beluga_voice.transports.telephony.twilio", ["TwilioSerializer"]
)

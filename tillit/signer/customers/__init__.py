"""Customers: enrolment, their keys and certificates, blocking and unblocking, guardians of minors,
and control questions."""

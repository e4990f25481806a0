-- One database per service: services never read each other's tables.
CREATE DATABASE goals;
CREATE DATABASE feedback;
CREATE DATABASE onboarding;
CREATE DATABASE notifications;

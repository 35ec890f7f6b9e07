"""The lab's AWS: the emulator (moto server), the Lambda Invoke endpoint, EventBridge, alarms, alerts, a foreign VPC."""

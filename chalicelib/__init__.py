"""hanat controller library: everything the Lambda functions need (shipped by Chalice)."""

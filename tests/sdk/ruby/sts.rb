# The AWS SDK for Ruby (aws-sdk-core, whose Debian package carries Aws::STS)
# as keyrole's consumer (tests/scenario/test_sdk_go_ruby.py).
# Usage: ruby sts.rb PROFILE ; the STS endpoint is $KR_STS_URL. The client
# takes the profile's credentials from the default provider chain, calls
# GetCallerIdentity and prints {"arn": ..., "source": the provider's class}.
require 'aws-sdk-core'
require 'json'

opts = { profile: ARGV.fetch(0) }
opts[:endpoint] = ENV['KR_STS_URL'] if ENV['KR_STS_URL']
sts = Aws::STS::Client.new(**opts)
id = sts.get_caller_identity
puts JSON.generate('arn' => id.arn, 'source' => sts.config.credentials.class.name)

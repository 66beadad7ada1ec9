// The AWS SDK for Go v1 as keyrole's consumer (tests/scenario/test_sdk_go_ruby.py).
// Usage: go-v1 PROFILE|- ; the STS endpoint is $KR_STS_URL. A session with the
// shared config enabled (and the profile unless PROFILE is -), GetCallerIdentity,
// and {"arn": ..., "source": the provider that gave the credentials}.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/sts"
)

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "go-v1: %s: %v\n", what, err)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go-v1 PROFILE|-")
		os.Exit(2)
	}
	opts := session.Options{SharedConfigState: session.SharedConfigEnable}
	if os.Args[1] != "-" {
		opts.Profile = os.Args[1]
	}
	sess, err := session.NewSessionWithOptions(opts)
	if err != nil {
		fail("session", err)
	}
	cfg := aws.NewConfig()
	if url := os.Getenv("KR_STS_URL"); url != "" {
		cfg = cfg.WithEndpoint(url)
	}
	id, err := sts.New(sess, cfg).GetCallerIdentity(&sts.GetCallerIdentityInput{})
	if err != nil {
		fail("GetCallerIdentity", err)
	}
	creds, err := sess.Config.Credentials.Get()
	if err != nil {
		fail("credentials", err)
	}
	out, _ := json.Marshal(map[string]interface{}{"arn": *id.Arn, "source": creds.ProviderName})
	fmt.Println(string(out))
}

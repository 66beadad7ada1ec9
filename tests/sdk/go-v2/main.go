// The AWS SDK for Go v2 as keyrole's consumer (tests/scenario/test_sdk_go_ruby.py).
// Usage: go-v2 PROFILE|- ; the STS endpoint is $KR_STS_URL (Debian's SDK, 1.17,
// predates AWS_ENDPOINT_URL_STS). Loads the default chain (with the shared
// config profile unless PROFILE is -), calls GetCallerIdentity and prints
// {"arn": ..., "source": the provider that gave the credentials}.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "go-v2: %s: %v\n", what, err)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go-v2 PROFILE|-")
		os.Exit(2)
	}
	ctx := context.Background()
	var opts []func(*config.LoadOptions) error
	if os.Args[1] != "-" {
		opts = append(opts, config.WithSharedConfigProfile(os.Args[1]))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		fail("load config", err)
	}
	url := os.Getenv("KR_STS_URL")
	client := sts.NewFromConfig(cfg, func(o *sts.Options) {
		if url != "" {
			o.EndpointResolver = sts.EndpointResolverFromURL(url)
		}
	})
	id, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		fail("GetCallerIdentity", err)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		fail("credentials", err)
	}
	out, _ := json.Marshal(map[string]interface{}{
		"arn": *id.Arn, "source": creds.Source, "expires": creds.CanExpire,
	})
	fmt.Println(string(out))
}

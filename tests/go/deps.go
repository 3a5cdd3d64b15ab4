//go:build tools

// Package compat pins the Go clients of Weir's compatibility tests (see go.mod).
package compat

import (
	_ "github.com/IBM/sarama"
	_ "github.com/twmb/franz-go/pkg/kadm"
	_ "github.com/twmb/franz-go/pkg/kgo"
	_ "github.com/twmb/franz-go/pkg/kmsg"
)

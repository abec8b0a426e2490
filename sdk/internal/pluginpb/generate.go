// Package pluginpb is the generated code of vramrun's plugin wire protocol
// (plugin.proto). It is internal: plugins use package sdk, which converts
// between these messages and the sdk types.
package pluginpb

// protoc-gen-go and protoc-gen-go-grpc must be on PATH:
//   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//   go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative plugin.proto

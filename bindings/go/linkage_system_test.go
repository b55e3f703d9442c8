//go:build splicer_system

package splicer_test

const systemBuild = true

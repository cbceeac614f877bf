package main

import (
	"context"
	"errors"
)

func runEnable(context.Context, *app, []string) error {
	return withCode(exitFailure, errors.New("enable: not built yet"))
}

func runDisable(context.Context, *app, []string) error {
	return withCode(exitFailure, errors.New("disable: not built yet"))
}

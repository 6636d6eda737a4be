import * as k8s from "@kubernetes/client-node";
import * as prom from "prom-client";
import { Command } from "@commander-js/extra-typings";
console.log(typeof k8s.KubeConfig, typeof prom.Registry, typeof Command);

// The demo app as a native binary, for the `systemd` slot runtime: built by `npm run engine`
// into .engine/bin/native-app (static, standard library only), run by a systemd unit.
module switchyard.example/native-app

go 1.26

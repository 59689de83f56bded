# bash completion for sockjail. Generated from the commands' --help by
# go test ./cmd/sockjail -run 'TestManPage|TestBashCompletion' -update; do not edit.

_sockjail() {
	local cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[1]} i
	# After "--" comes the program and its arguments: complete files.
	for ((i = 2; i < COMP_CWORD; i++)); do
		if [[ ${COMP_WORDS[i]} == -- ]]; then
			COMPREPLY=($(compgen -f -- "$cur"))
			return
		fi
	done
	if ((COMP_CWORD == 1)); then
		COMPREPLY=($(compgen -W "check learn policy probe run serve unit version --help --version" -- "$cur"))
		return
	fi
	local flags
	case $cmd in
	check) flags="--v --help" ;;
	learn) flags="--duration --listen --log-format --out --policy --sessions --help" ;;
	policy) flags="--help" ;;
	probe) flags="--json --policy --help" ;;
	run) flags="--log-format --policy --help" ;;
	serve) flags="--admin-listen --listen --log-format --policy --help" ;;
	unit) flags="--accept --dir --listen --name --policy --sockjail --systemd-version --help" ;;
	version) flags="--help" ;;
	help) COMPREPLY=($(compgen -W "check learn policy probe run serve unit version" -- "$cur")); return ;;
	*) flags=--help ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$flags" -- "$cur"))
	else
		COMPREPLY=($(compgen -f -- "$cur"))
	fi
}
complete -o filenames -F _sockjail sockjail

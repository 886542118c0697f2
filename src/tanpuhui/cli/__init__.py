"""The command line (`tanpuhui …`): parse, call one service, render."""
